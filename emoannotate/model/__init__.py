"""The network: face backbones, the two branches, TFusion and the classifier."""
