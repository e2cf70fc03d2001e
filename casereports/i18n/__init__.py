"""Languages on the web side: which one a request speaks, and the dictionary's words in it."""
