"""A user's own model classes, as an application that uses x-transformers
defines them: its own layers beside x-transformers' modules, under its own
attribute names. tests/data/make_user_checkpoints.py builds, trains and saves
them (their state dicts, and `torch.save(app)` whole, whose pickle names
`user_models.AppModel`: this module must be importable as `user_models` when
such a file is loaded, e.g. with tests/data on sys.path).

x_transformers is imported when a model is built, from whichever release is
first on sys.path, so the same classes serve every pinned release.
"""

from torch import nn


def _layers(kind):
    import x_transformers

    return {"Decoder": x_transformers.Decoder, "Encoder": x_transformers.Encoder}[kind]


def build_wrapper(wrapper, layers, layers_kind):
    """TransformerWrapper(attn_layers=<Decoder|Encoder>(**layers), **wrapper)."""
    import x_transformers

    return x_transformers.TransformerWrapper(attn_layers=_layers(layers_kind)(**layers), **wrapper)


class AppModel(nn.Module):
    """An application model with its own embedding, its own "encoder" (a GRU,
    not x-transformers') and head, and a bare x-transformers Decoder
    (AttentionLayers) in the middle: keys `embed.*`, `encoder.*`, `head.*` are
    the app's, `decoder.*` is x-transformers'."""

    def __init__(self, num_tokens, dim, decoder):
        super().__init__()
        self.embed = nn.Embedding(num_tokens, dim)
        self.encoder = nn.GRU(dim, dim, batch_first=True)
        self.decoder = _layers("Decoder")(**decoder)
        self.head = nn.Linear(dim, num_tokens)

    def forward(self, tokens):
        x = self.embed(tokens)
        x, _ = self.encoder(x)
        x = self.decoder(x)
        return self.head(x)


class AppXModel(nn.Module):
    """An application holding two x-transformers TransformerWrappers under its
    own names (a text encoder and a speech-token decoder attending to it),
    joined by its own projection: keys `text.*` and `speech.*` are
    x-transformers', `bridge.*` is the app's."""

    def __init__(self, text, speech, dim):
        super().__init__()
        self.text = build_wrapper(text["wrapper"], text["layers"], "Encoder")
        self.bridge = nn.Linear(dim, dim)
        self.speech = build_wrapper(speech["wrapper"], speech["layers"], "Decoder")

    def forward(self, text_tokens, speech_tokens):
        context = self.bridge(self.text(text_tokens, return_embeddings=True))
        return self.speech(speech_tokens, context=context)


__all__ = ["AppModel", "AppXModel", "build_wrapper"]
