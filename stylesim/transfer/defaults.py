"""Gatys loss weights and the decoder training's content losses, importable without torch (the
CLI shows them in --help).

Chosen on this project's encoder (original Caffe VGG19, inputs 0..255, max pooling, losses
divided by their targets' energy, see ``transfer.losses``): at 160 px and 60 L-BFGS steps,
style weight 1 / 10 / 100 took the result's Gram distance to the style to 0.94 / 0.44 / 0.28 of
the content image's (astronaut x pencil sketch) and 0.52 / 0.14 / 0.05 (cat x gravel), with
the layout kept (blurred greyscale correlation 0.998 / 0.985 / 0.974 and 0.990 / 0.964 /
0.963). 10 is clearly stylised and still reads as the content; TV 10 removes the high-frequency
speckle of the Caffe weights' first layer at a cost of ~0.2 of the loss.
"""

STYLE_WEIGHT = 10.0
TV_WEIGHT = 10.0
CONTENT_WEIGHT = 1.0

# AdaIN decoder training (``transfer.training``): the paper's eq. 12, per channel normalised, or
# normalised at relu4_1 and against the content's relu3_1 (and relu2_1: "layout-fine")
CONTENT_LOSSES = ("target", "normalised", "layout", "layout-fine")
