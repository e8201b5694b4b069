#pragma once
// The settings of one AdamW update, as every backend's optimizer kernel takes them.

namespace loramoe {

struct adamw_hyperparameters {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
};

}  // namespace loramoe
