"""One module per published dataset (or family of files): each registers its loader with
`mmsafe.data.datasets.dataset`. Every module here is imported by `datasets.load_all()`."""
