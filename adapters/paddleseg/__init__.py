"""PaddleSeg: semantic segmentation (adapter, trial hooks, digits masks data set, configs)."""
