"""Project-side tools of the PLPP toolkit: engine selection, CLIP loading, data, results, demo."""
