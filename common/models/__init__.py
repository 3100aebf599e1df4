"""Models: registered backbones, the image classifier and the video (LSTM) models. Imports core to data."""
