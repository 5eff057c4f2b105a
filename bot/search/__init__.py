"""Retrieval as the server runs it: the worker's threads or child process, the pipe format, the
shared Redis queue, and the wiring of the index stack from Settings."""
