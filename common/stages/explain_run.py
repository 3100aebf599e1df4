"""Stage 06: explain a trained run: Grad-CAM heatmaps over test faces, t-SNE of embeddings before/after."""

from common.cli import positive_int, run_stage, stage_parser


def build_parser():
    parser = stage_parser(
        "Explain a run of 04-train-cnn.py (stage 06). Writes gradcam.png: test faces grouped as correct-real,"
        " correct-fake, wrong-real, wrong-fake, each with its Grad-CAM heatmap of P(fake) at the backbone's "
        "last feature map and a caption 'label, P(fake)'; and tsne.png: a t-SNE of the test faces' "
        "embeddings (the input of the P(fake) layer), real blue and fake red, for the same architecture "
        "with random weights (left) and for the trained model (right). The test faces are read from the "
        "dataset folder the run recorded in its config.yaml, or from --dataset.",
        input_help="run directory of 04-train-cnn.py (with model.keras, test_faces.csv and config.yaml)",
        output_help="folder for gradcam.png and tsne.png (must not lie inside --input)",
    )
    parser.add_argument(
        "--samples", type=positive_int, default=16, help="test faces shown with their Grad-CAM heatmaps"
    )
    parser.add_argument(
        "--tsne-faces",
        type=positive_int,
        default=2000,
        help="most test faces in the t-SNE (a seeded sample of them when the test split is larger)",
    )
    parser.add_argument(
        "--dataset",
        help="dataset folder of 03-prepare-fake-real-dataset.py holding the test faces "
        "(default: the one recorded in the run; needed when it moved)",
    )
    return parser


def explain(args, config):
    from common.evaluation.explain import (
        explain_run,  # TensorFlow loads here, after the arguments are known to be good
    )

    paths = explain_run(
        args.input, args.output, args.dataset, args.samples, config["seed"], tsne_faces=args.tsne_faces
    )
    print(f"Grad-CAM -> {paths['gradcam']}, t-SNE before/after training -> {paths['tsne']}")


def main(argv=None):
    return run_stage(build_parser(), argv, explain)
