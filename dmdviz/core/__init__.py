"""The mathematics: tensors in, tensors out, no files, no network, nothing above it.

    flow     -- the time convention, x_t, velocity targets, Euler Φ_K
    noise    -- the shared seeded noise z_i = f(seed, i, shape) and labels y_i
    nets     -- the MLP and UNet velocity networks (the one-step StudentNet wrapper is in dmd)
    dmd      -- the DMD losses (each returning ``(loss, logs)``) and the critic
    metrics  -- pairing metrics on sample sets: costs, OT agreement, ratios, W₂
    classifier -- the small class predictor whose features the image quality measures use

Rule: imports only ``dmdviz.errors`` and ``dmdviz.config`` from dmdviz.
"""
