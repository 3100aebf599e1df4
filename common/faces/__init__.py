"""Faces: detectors behind one interface (MTCNN, BlazeFace), cropping, face tracks and the face mesh. Imports
common.core and common.io."""
