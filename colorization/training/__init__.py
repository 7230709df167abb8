"""Training a colorizer with Lightning: the modules (plain and GAN), callbacks, checkpoint IO, loggers, precision,
resuming."""
