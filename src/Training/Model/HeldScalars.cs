using TorchSharp;

namespace Coordinator.Training.Model;

/// <summary>
/// TorchSharp 0.107 turns numbers into native Scalars behind managed objects with finalizers, and hands torch only the
/// native pointer: a Scalar made implicitly (from a double, or inside TorchSharp, as <c>a + b</c> does with alpha 1) is
/// unreachable from then on, so a GC can finalize (free) it while torch still reads it. Under GC pressure this fails
/// training steps at random with "Expected false to be true" from <c>Scalar::toFloat</c> or an internal assert in
/// <c>Scalar.h</c>. So the engine never lets TorchSharp make a Scalar: numbers go to torch as Scalars held by a
/// <c>using</c> (or a field) until the call returns, and sums (of tensors, or a tensor and a Scalar) take <see cref="One"/> as their alpha (a
/// difference of tensors makes no Scalar).
/// </summary>
internal static class HeldScalars
{
    /// <summary>The alpha of a plain sum; a static field, so never finalized.</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary><paramref name="left"/> + <paramref name="right"/>, without a temporary Scalar.</summary>
    public static torch.Tensor Plus(this torch.Tensor left, torch.Tensor right) => left.add(right, One);
}
