using System.Text;

namespace Ferry.Sources;

/// <summary>
/// Encodings by name, decoding invalid bytes to <see cref="InvalidMarker"/> rather than throwing, so
/// that a bad byte rejects only the row it sits in, with its line and column, instead of the file.
/// </summary>
public static class TextEncodings
{
    /// <summary>U+FFFF is a noncharacter: no valid text carries it, so finding it means a bad byte.</summary>
    public const char InvalidMarker = '\uFFFF';

    static TextEncodings() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    /// <summary>
    /// Makes the code-page encodings (windows-1252 …) available, as the static constructor does.
    /// Reading <see cref="InvalidMarker"/> does not: a const is inlined and runs no constructor.
    /// </summary>
    public static void RegisterCodePages() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    /// <exception cref="ArgumentException">The name is not an encoding .NET knows.</exception>
    public static Encoding Get(string name) =>
        Encoding.GetEncoding(name, EncoderFallback.ExceptionFallback, new DecoderReplacementFallback(InvalidMarker.ToString()));
}
