"""course_lib: the small helper library shared by the chapters of
"Transformers from scratch, in notebooks".

Each chapter builds a piece inline to teach it, proves it equal to PyTorch's or Hugging
Face's own, and then imports the version kept here. One concept lives in one module:

- ``utils``       seeding, device choice, parameter counts, the environment report
- ``attention``   scaled dot-product attention, masks, ``MultiHeadAttention``
- ``layers``      feed-forward network, positional encodings, encoder and decoder blocks
- ``models``      ``Transformer``, ``GPT``, the LSTM and bigram baselines
- ``tokenizers``  ``CharTokenizer``, ``BPETokenizer`` and the bridge to ``tokenizers``
- ``data``        corpora, synthetic tasks, batching
- ``training``    the training loop, schedules, evaluation, checkpoints
- ``generation``  sampling strategies and ``generate``
- ``viz``         the explorer pattern (ipywidgets) and the attention pictures; beside
  it ``viz_scaling`` (why √d_k; attention's cost against length), ``viz_training``
  (gradient norms, the learning-rate schedule, loss curves) and ``viz_generation``
  (the next-token distribution under the sampling knobs)
- ``hf``          conversions to and from Hugging Face models
- ``exercises``   the checkers behind every chapter's exercises

Nothing is imported here: ``import course_lib`` stays instant, and each chapter imports
the modules it uses.
"""

__version__ = "0.1.0"
