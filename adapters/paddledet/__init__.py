"""PaddleDetection adapter groundwork.

- compat: run-time fixes for paddledet 2.6 on Paddle 3 (install() before ppdet is imported; FIXES for doctor)
- digits_det: an offline detection set of real images (sklearn digits on canvases), COCO and VOC
- configs/: tiny native ppdet configs (Faster R-CNN R18, PP-YOLOE, PicoDet, YOLOv3-MobileNetV1, a VOC variant)

Nothing is imported here: importing ppdet takes seconds and the fixes must be installed first.
"""
