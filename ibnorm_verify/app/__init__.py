"""The application floor: the run configuration (:mod:`.config`), the runner (:mod:`.runner`), the run
record (:mod:`.records`), publishing results, reports and figures (:mod:`.publish`, :mod:`.report`) and
the command line (:mod:`.cli`; also ``python -m ibnorm_verify``). See ``docs/figures.md``."""
