using System.Text;

namespace Ferry.Mapping;

/// <summary>
/// A person's name as a register should hold it: trimmed, one space between words, and proper
/// case for a word typed all in upper or all in lower case ("MARY  O'NEILL-MCDONALD" → "Mary
/// O'Neill-McDonald"). A word typed in mixed case starting with a capital ("DeVito", "Macdonald")
/// is the person's own spelling and is kept.
/// </summary>
internal static class PersonNames
{
    // Prefixes written in lower case inside a name ("Ludwig van Beethoven", "Charles de Gaulle"),
    // but capitalised as its first word ("Van Morrison").
    private static readonly HashSet<string> Particles = new(StringComparer.OrdinalIgnoreCase)
    {
        "van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "la", "le", "ter", "ten", "bin", "binti", "y",
    };

    // "Mac" is a prefix only in these names: Mack, Macy, Machin and Mace are names of their own.
    private static readonly HashSet<string> MacNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "macdonald", "macleod", "mackenzie", "macgregor", "macintyre", "mackay", "maclean", "macmillan", "macneil",
        "macpherson", "macrae", "macaulay", "macfarlane", "macinnes", "mackinnon", "maclachlan", "macdougall",
        "macarthur", "maccallum", "macdonnell", "macgillivray", "maclennan", "macneill", "macquarrie", "macaskill",
    };

    private static readonly HashSet<string> Numerals = new(StringComparer.OrdinalIgnoreCase) { "ii", "iii", "iv", "vi", "vii", "viii" };

    public static string? Normalise(string? value)
    {
        if (value is null)
            return null;
        var words = value.Replace('\u2019', '\'').Replace('`', '\'')
            .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
            return "";
        var sb = new StringBuilder(value.Length);
        for (var i = 0; i < words.Length; i++)
        {
            if (i > 0)
                sb.Append(' ');
            sb.Append(Word(words[i], first: i == 0));
        }
        return sb.ToString();
    }

    private static string Word(string word, bool first)
    {
        if (IsOwnSpelling(word))
            return word;
        if (!first && Particles.Contains(word))
            return word.ToLowerInvariant();
        if (!first && Numerals.Contains(word))
            return word.ToUpperInvariant();
        // Each part of a double-barrelled name is a name: "smith-jones" → "Smith-Jones".
        return string.Join('-', word.Split('-').Select(Part));
    }

    /// <summary>Mixed case that starts with a capital: someone typed it that way on purpose.</summary>
    private static bool IsOwnSpelling(string word)
    {
        var upper = false;
        var lower = false;
        foreach (var c in word)
        {
            upper |= char.IsUpper(c);
            lower |= char.IsLower(c);
        }
        return upper && lower && char.IsUpper(word[0]);
    }

    private static string Part(string part)
    {
        if (part.Length == 0)
            return part;
        var lower = part.ToLowerInvariant();
        var chars = lower.ToCharArray();
        chars[0] = char.ToUpperInvariant(chars[0]);
        // O'Brien, D'Arcy: one letter and an apostrophe are a prefix. Longer ones are not ("Ng'ang'a").
        if (chars.Length > 2 && chars[1] == '\'')
            chars[2] = char.ToUpperInvariant(chars[2]);
        if (lower.Length > 3 && lower.StartsWith("mc", StringComparison.Ordinal))
            chars[2] = char.ToUpperInvariant(chars[2]);
        else if (MacNames.Contains(lower))
            chars[3] = char.ToUpperInvariant(chars[3]);
        return new string(chars);
    }
}
