using System.Globalization;
using System.Text.RegularExpressions;

namespace Ferry.Pipeline;

/// <summary>
/// The date in a file's name: <c>yyyy-MM-dd</c>, <c>yyyyMMdd</c>, <c>yyyy-MM</c> or <c>yyyyMM</c> (a
/// month stands for its first day), tried in that order; the first that is a real date counts.
/// Digits that run on (a longer number) are not a date.
/// </summary>
public static partial class FileDates
{
    public static DateOnly? FromName(string fileName)
    {
        var name = Path.GetFileNameWithoutExtension(fileName);
        foreach (var pattern in new[] { DayDashed(), DayPlain(), MonthDashed(), MonthPlain() })
            foreach (Match m in pattern.Matches(name))
            {
                var year = int.Parse(m.Groups["y"].Value, CultureInfo.InvariantCulture);
                var month = int.Parse(m.Groups["m"].Value, CultureInfo.InvariantCulture);
                var day = m.Groups["d"].Success ? int.Parse(m.Groups["d"].Value, CultureInfo.InvariantCulture) : 1;
                if (year is >= 1900 and <= 2999 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month))
                    return new DateOnly(year, month, day);
            }
        return null;
    }

    [GeneratedRegex(@"(?<!\d)(?<y>\d{4})-(?<m>\d{2})-(?<d>\d{2})(?!\d)")]
    private static partial Regex DayDashed();

    [GeneratedRegex(@"(?<!\d)(?<y>\d{4})(?<m>\d{2})(?<d>\d{2})(?!\d)")]
    private static partial Regex DayPlain();

    [GeneratedRegex(@"(?<!\d)(?<y>\d{4})-(?<m>\d{2})(?![\d-])")]
    private static partial Regex MonthDashed();

    [GeneratedRegex(@"(?<!\d)(?<y>\d{4})(?<m>\d{2})(?!\d)")]
    private static partial Regex MonthPlain();
}
