#pragma once
// AdamW over one parameter_buffer: its moments are two more buffers of the same layout, so the update
// is one loop over contiguous memory (cpu/optimizer.hpp has the maths).

#include <loramoe/core/parameters.hpp>
#include <loramoe/cpu/optimizer.hpp>

namespace loramoe::train {

template <scalar T, backend Backend = cpu>
class adamw {
public:
    adamw(parameter_buffer<T, Backend>& parameters, adamw_hyperparameters hyperparameters)
        : parameters_(&parameters),
          hyperparameters_(hyperparameters),
          m_({parameters.size()}),
          v_({parameters.size()}) {
        if (!parameters.has_grads() && parameters.size() > 0)
            fail<value_error>("adamw: the parameters have no gradients (frozen)");
        m_.zero();
        v_.zero();
    }

    // One update with the current gradients at learning rate lr.
    void step(double lr) {
        adamw_hyperparameters h = hyperparameters_;
        h.lr = lr;
        ++steps_;
        adamw_update(Backend{}, parameters_->values().data(), parameters_->grads().data(), m_.data(),
                     v_.data(), parameters_->size(), h, steps_);
    }

    index steps() const { return steps_; }
    void set_steps(index steps) { steps_ = steps; }
    const adamw_hyperparameters& hyperparameters() const { return hyperparameters_; }
    tensor<T, Backend>& first_moment() { return m_; }
    tensor<T, Backend>& second_moment() { return v_; }
    const tensor<T, Backend>& first_moment() const { return m_; }
    const tensor<T, Backend>& second_moment() const { return v_; }

private:
    parameter_buffer<T, Backend>* parameters_;
    adamw_hyperparameters hyperparameters_;
    tensor<T, Backend> m_, v_;
    index steps_ = 0;
};

}  // namespace loramoe::train
