"""The public loss functions. Each validates its arguments, runs the fused
kernel for the input's device when one is compiled in (the reference with a
one-time warning otherwise) and applies the reduction."""

from lossext.functional.box import (
    box_iou,
    box_iou_loss,
    complete_box_iou,
    complete_box_iou_loss,
    distance_box_iou,
    distance_box_iou_loss,
    generalized_box_iou,
    generalized_box_iou_loss,
)
from lossext.functional.cross_entropy import cross_entropy
from lossext.functional.focal import quality_focal_loss, sigmoid_focal_loss, softmax_focal_loss, varifocal_loss
from lossext.functional.divergence import kl_div, js_div
from lossext.functional.catalog_regression import (  # noqa: F401
    mse_loss,
    l1_loss,
    mae_loss,
    rmse_loss,
    sum_of_squares_loss,
    log_cosh_loss,
)
from lossext.functional.catalog_classification import (  # noqa: F401
    zero_one_loss,
    hinge_loss,
    squared_hinge_loss,
    multiclass_hinge_loss,
    exponential_loss,
    log_loss,
    nll_loss,
    binary_cross_entropy,
    hinge_embedding_loss,
    soft_margin_loss,
    multi_margin_loss,
)
from lossext.functional.catalog_distributions import (  # noqa: F401
    entropy,
    soft_cross_entropy,
)
from lossext.functional.catalog_embeddings import (  # noqa: F401
    cosine_similarity_loss,
    cosine_embedding_loss,
    triplet_margin_loss,
    contrastive_loss,
    margin_ranking_loss,
)
from lossext.functional.catalog_generation import (  # noqa: F401
    gram_matrix,
    style_loss,
    perceptual_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from lossext.functional.catalog_objective import (  # noqa: F401
    structural_risk,
    confusion_matrix,
    mean_iou,
    dice_score,
)

from lossext.functional.regression import huber_loss, smooth_l1_loss
from lossext.functional.segmentation import dice_ce_loss, dice_loss, jaccard_loss, tversky_loss

from lossext.functional.total_variation import total_variation_loss

from lossext._exports import public_names  # noqa: E402

__all__ = public_names(globals(), __name__)
