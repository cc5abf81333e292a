"""Gallery builds: checkpointed chunks of photos (in this process, a pool of processes or Ray actors), and upgrades."""
