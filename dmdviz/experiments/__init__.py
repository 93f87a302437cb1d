"""Work made of many trainings and analyses: reproducing a family, sweeps over dimension,
background jobs of the app, the HTML report.

    reproduce -- retrain or rescore a shipped family from its preset; run-to-run spread
    sweep     -- copying against dimension, resumable, one results.jsonl
    matched   -- the matched-start freedom test across dimension (``matched_report``: its table, figure)
    jobs      -- the app's background training runs (start, cancel, resume, push)
    launcher  -- the one way a background worker starts, is counted and is watched
    report    -- a self-contained HTML report of a ``Study``

Rule: no gradio; takes loaded models or its own run folders, never a visitor's reference.
"""
