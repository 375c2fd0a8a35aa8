"""The character-level LSTM language model: ``model`` (builder, replica, sampling, save/load),
``train`` (the whole training run of ``jobs/train_charlm.py``), ``cli`` (``sparknn generate``)."""
