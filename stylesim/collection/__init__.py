"""What goes in: walking folders, classifying files, safe image decoding, and the
reader -> encoder -> journal pipeline."""
