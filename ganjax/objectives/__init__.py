"""Pure losses, discriminator regularizers and augmentation (no model calls)."""
