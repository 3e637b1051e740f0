"""Evaluation: COCO mAP with ancestor crediting, hierarchical measures, prediction runs and reports."""
