"""VGGNet reproduction."""
