"""The Gradio app, the other edge of the library and the only importer of gradio.

    app       -- ``build_demo`` and the ``App`` whose methods are the event handlers
    registry  -- what a visitor may open (references), uploads, bounded in-memory caches
    sides     -- a pair file's diffusers sides: Hub ids only, fetched planned and bounded
    catalog   -- the lists the app offers: shipped pairs, families, pair files, runs
    layout    -- the tabs' components; page -- launch settings and first paints
    sweep     -- the Sweep tab; common, messages, text -- shared pieces, errors, prose
    gpu       -- ZeroGPU: the sampling under spaces.GPU when the spaces package is there

Rule: imports anything below it; nothing below imports it.
"""
