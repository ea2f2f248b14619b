#include "harness/native/feedforward.hpp"

namespace xcompat::native {

namespace {
Tensor activate(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::GELU: return at::gelu(x);         // nn.GELU()
    case Activation::SiLU: return at::silu(x);         // nn.SiLU()
    case Activation::ReluSquared: return at::relu(x).pow(2);  // F.relu(x) ** 2
    case Activation::Sigmoid: return at::sigmoid(x);   // nn.Sigmoid()
    case Activation::Tanh: return at::tanh(x);         // nn.Tanh()
    case Activation::ReLU: return at::relu(x);         // nn.ReLU()
  }
  return x;
}
}  // namespace

GLU::GLU(int64_t dim_in, int64_t dim_out, Activation a) : act(a) {
  proj = register_module("proj", std::make_shared<Linear>(dim_in, dim_out * 2, true));
}

Tensor GLU::forward(const Tensor& x) const {
  auto parts = proj->forward(x).chunk(2, -1);
  return parts[0] * activate(parts[1], act);
}

FeedForward::FeedForward(FeedForwardOptions o) : options(o) {
  const auto inner = static_cast<int64_t>(static_cast<double>(o.dim) * o.mult);
  activation = o.custom_activation ? *o.custom_activation
               : o.relu_squared   ? Activation::ReluSquared
               : o.swish          ? Activation::SiLU
                                  : Activation::GELU;
  ff = register_module("ff", std::make_shared<Container>());
  if (o.glu) {
    glu = ff->add("0", std::make_shared<GLU>(o.dim, inner, activation));
  } else {
    auto seq = ff->add("0", std::make_shared<Container>());
    project_in = seq->add("0", std::make_shared<Linear>(o.dim, inner, !o.no_bias));
  }
  // ff.1 is the dropout (no parameters)
  project_out = ff->add("2", std::make_shared<Linear>(inner, o.dim, !o.no_bias));
}

Tensor FeedForward::forward(const Tensor& x, Trace* t, const std::string& path) const {
  Tensor h;
  if (glu) {
    h = glu->forward(x);
  } else {
    h = project_in->forward(x);
    // Lambda(partial(softclamp, value = softclamp_value)) between the projection and the activation
    if (options.softclamp_value) h = (h / *options.softclamp_value).tanh() * *options.softclamp_value;
    h = activate(h, activation);
  }
  trace(t, path + ".ff.0", h);
  return project_out->forward(h);
}

}  // namespace xcompat::native
