"""scvae data layer: DataSet, readers, processing, splitting and caching."""
