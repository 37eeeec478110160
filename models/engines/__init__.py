"""Summary engines built on the runtimes in models.runtimes."""
