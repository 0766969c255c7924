"""One script per figure; each reads cached Evidence (results.json) or runs its claim. See __main__."""
