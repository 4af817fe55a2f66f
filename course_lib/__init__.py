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
- ``viz``         static plots and ipywidgets explorers
- ``hf``          conversions to and from Hugging Face models
- ``exercises``   the checkers behind every chapter's exercises

Nothing is imported here: ``import course_lib`` stays instant, and each chapter imports
the modules it uses.
"""

__version__ = "0.1.0"
