"""Records, preprocessing and windowing."""
