"""The runners of the jobs: Ray Data (tag), Ray Train (train). Only this package imports Ray."""
