"""Style transfer: Gatys (optimisation) and AdaIN (feed-forward), colour preservation, image
pyramid, quality measures, and restyling with styles retrieved from an index."""
