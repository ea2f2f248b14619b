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

Tensor softclamp(const Tensor& t, double value) { return (t / value).tanh() * value; }

// softclamp_gelu / softclamp_silu (2.31.10): the clamped gate times the
// activation's own nonlinearity of the unclamped gate.
Tensor softclamp_activate(const Tensor& gate, double value, Activation a) {
  if (a == Activation::GELU) return softclamp(gate, value) * at::special_ndtr(gate);
  return softclamp(gate, value) * gate.sigmoid();
}

GluClamps glu_clamps(const FeedForwardOptions& o) {
  GluClamps c;
  if (o.glu_clamp_form == GluClampForm::ClampInputs) {
    c.up = o.softclamp_value;
    c.gate = o.glu_gate_softclamp_value;
  } else if (o.glu_clamp_form == GluClampForm::SituGlu && o.glu_softclamp) {
    c.up = o.glu_up_softclamp_value;
    c.gate = o.glu_gate_softclamp_value.value_or(4.0);
    c.gate_times_activation_gate = true;
  }
  return c;
}
}  // namespace

GLU::GLU(int64_t dim_in, int64_t dim_out, Activation a, GluClamps c) : act(a), clamps(c) {
  proj = register_module("proj", std::make_shared<Linear>(dim_in, dim_out * 2, true));
}

Tensor GLU::forward(const Tensor& x) const {
  auto parts = proj->forward(x).chunk(2, -1);
  Tensor up = parts[0], gate = parts[1];
  if (clamps.up) up = softclamp(up, *clamps.up);
  if (clamps.gate_times_activation_gate) return up * softclamp_activate(gate, *clamps.gate, act);
  if (clamps.gate) gate = softclamp(gate, *clamps.gate);
  return up * activate(gate, act);
}

FeedForward::FeedForward(FeedForwardOptions o) : options(o) {
  const auto inner = static_cast<int64_t>(static_cast<double>(o.dim) * o.mult);
  activation = o.custom_activation ? *o.custom_activation
               : o.relu_squared   ? Activation::ReluSquared
               : o.swish          ? Activation::SiLU
                                  : Activation::GELU;
  ff = register_module("ff", std::make_shared<Container>());
  if (o.glu) {
    glu = ff->add("0", std::make_shared<GLU>(o.dim, inner, activation, glu_clamps(o)));
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
    if (options.softclamp_value) h = softclamp(h, *options.softclamp_value);
    h = activate(h, activation);
  }
  trace(t, path + ".ff.0", h);
  return project_out->forward(h);
}

}  // namespace xcompat::native
