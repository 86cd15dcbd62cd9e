"""The pure-PyTorch oracle: every lossext loss written from its formula,
readable above all. Tests compare the kernels with it and it is the fallback
where no kernel exists. Same signatures as the public functions."""

from lossext.reference import box
from lossext.reference.box import (
    box_iou,
    box_iou_loss,
    complete_box_iou,
    complete_box_iou_loss,
    distance_box_iou,
    distance_box_iou_loss,
    generalized_box_iou,
    generalized_box_iou_loss,
)
from lossext.reference.cross_entropy import cross_entropy
from lossext.reference.focal import quality_focal_loss, sigmoid_focal_loss, softmax_focal_loss, varifocal_loss
from lossext.reference.divergence import kl_div, js_div
from lossext.reference.catalog_regression import (  # noqa: F401
    mse_loss,
    l1_loss,
    rmse_loss,
    sum_of_squares_loss,
    log_cosh_loss,
)
from lossext.reference.catalog_classification import (  # noqa: F401
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
from lossext.reference.catalog_distributions import (  # noqa: F401
    entropy,
    soft_cross_entropy,
)
from lossext.reference.catalog_embeddings import (  # noqa: F401
    cosine_similarity_loss,
    cosine_embedding_loss,
    triplet_margin_loss,
    contrastive_loss,
    margin_ranking_loss,
)
from lossext.reference.catalog_generation import (  # noqa: F401
    gram_matrix,
    style_loss,
    perceptual_loss,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from lossext.reference.catalog_objective import (  # noqa: F401
    structural_risk,
    confusion_matrix,
    mean_iou,
    dice_score,
)

from lossext.reference.regression import huber_loss, smooth_l1_loss

from lossext.reference.total_variation import total_variation_loss

from lossext.reference.segmentation import dice_ce_loss, dice_loss, jaccard_loss, tversky_loss

from lossext._exports import public_names  # noqa: E402

__all__ = public_names(globals(), __name__)
