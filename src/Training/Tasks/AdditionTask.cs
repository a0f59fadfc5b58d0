using System.Globalization;
using System.Text;
using Coordinator.Contracts.Training;

namespace Coordinator.Training.Tasks;

/// <summary>
/// The bundled fine-tuning task: adding two numbers written as text, one byte per token, e.g. "27+45=72\n".
/// Only the answer ("72\n") carries loss weight, so the model is trained to answer, not to invent questions.
/// Deterministic for a given seed.
/// </summary>
public sealed class AdditionTask(int maxOperand = 99)
{
    /// <summary>The token that ends an answer.</summary>
    public const int EndToken = '\n';

    /// <summary>Operands are drawn from [0, maxOperand].</summary>
    public int MaxOperand { get; } = maxOperand > 0 ? maxOperand : throw new ArgumentOutOfRangeException(nameof(maxOperand));

    /// <summary>Longest example in tokens; the base model's context must be at least this long.</summary>
    public int MaxLength => Text(MaxOperand, MaxOperand).Length;

    /// <summary>The prompt of a problem, e.g. "27+45=".</summary>
    public static string Prompt(int a, int b) => string.Create(CultureInfo.InvariantCulture, $"{a}+{b}=");

    /// <summary>The full example, e.g. "27+45=72\n".</summary>
    public static string Text(int a, int b) => string.Create(CultureInfo.InvariantCulture, $"{a}+{b}={a + b}\n");

    /// <summary>Bytes of a text as token ids.</summary>
    public static int[] Encode(string text) => [.. Encoding.ASCII.GetBytes(text).Select(b => (int)b)];

    /// <summary>Token ids as text, with bytes outside printable ASCII shown as '?'.</summary>
    public static string Decode(IEnumerable<int> tokens) =>
        new([.. tokens.Select(t => t is >= 32 and < 127 or '\n' ? (char)t : '?')]);

    /// <summary>One example as a training datum: next-token targets, weight 1 on the answer only.</summary>
    public static Datum ToDatum(int a, int b)
    {
        var tokens = Encode(Text(a, b));
        var answerStart = Prompt(a, b).Length;
        var inputs = tokens[..^1];
        var targets = tokens[1..];
        var weights = new float[inputs.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            // targets[i] is token i + 1; it belongs to the answer from index answerStart on.
            weights[i] = i + 1 >= answerStart ? 1f : 0f;
        }

        return new Datum(inputs, targets, weights);
    }

    /// <summary>A batch of random problems drawn from <paramref name="random"/>, none of them in <paramref name="exclude"/> (held-out problems).</summary>
    public IReadOnlyList<Datum> Batch(Random random, int size, IReadOnlySet<(int A, int B)>? exclude = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        var batch = new Datum[size];
        for (var i = 0; i < size; i++)
        {
            var (a, b) = (random.Next(MaxOperand + 1), random.Next(MaxOperand + 1));
            if (exclude?.Contains((a, b)) == true)
            {
                i--;
                continue;
            }

            batch[i] = ToDatum(a, b);
        }

        return batch;
    }

    /// <summary>Random problems (a, b) for evaluation.</summary>
    public IReadOnlyList<(int A, int B)> Problems(Random random, int count)
    {
        ArgumentNullException.ThrowIfNull(random);
        return [.. Enumerable.Range(0, count).Select(_ => (random.Next(MaxOperand + 1), random.Next(MaxOperand + 1)))];
    }

    /// <summary>True if a sampled answer (tokens after the prompt) is the right sum followed by the end token.</summary>
    public static bool IsCorrect(int a, int b, IReadOnlyList<int> answer) =>
        Decode(answer) == string.Create(CultureInfo.InvariantCulture, $"{a + b}\n");
}
