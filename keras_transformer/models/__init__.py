"""The chapter's models, built by name: IMDB classifiers and translators."""
