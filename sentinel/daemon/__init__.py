"""What puts it together: the runner (feed, batches, settings reloads), which transitions run
(`registry`) and the command line. May import everything.
"""
