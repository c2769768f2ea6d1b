using Ferry.Mapping;

namespace Ferry.Tests.Unit;

public class CleansingFunctionTests
{
    [Theory]
    // UK numbers as people write them
    [InlineData("+44 20 7946 0018", "+442079460018")]
    [InlineData("020 7946 0018", "+442079460018")]
    [InlineData("(020) 79460018", "+442079460018")]
    [InlineData("020-7946-0018", "+442079460018")]
    [InlineData("020.7946.0018", "+442079460018")]
    [InlineData("02079460018", "+442079460018")]
    [InlineData("  020 7946 0018  ", "+442079460018")]
    [InlineData("+44 (0)20 7946 0018", "+442079460018")]
    [InlineData("+44(0)2079460018", "+442079460018")]
    [InlineData("0044 20 7946 0018", "+442079460018")]
    [InlineData("44 20 7946 0018", "+442079460018")]
    [InlineData("+44 020 7946 0018", "+442079460018")]
    [InlineData("+442079460018", "+442079460018")]
    [InlineData("tel:+44-20-7946-0018", "+442079460018")]
    [InlineData("020 7946 0018 ext 214", "+442079460018")]
    [InlineData("020 7946 0018 x214", "+442079460018")]
    [InlineData("020\u00a07946\u00a00018", "+442079460018")]         // no-break spaces from a spreadsheet
    [InlineData("07700 900123", "+447700900123")]                     // mobile
    [InlineData("07700-900-123", "+447700900123")]
    [InlineData("+44 7700 900123", "+447700900123")]
    [InlineData("0161 496 0000", "+441614960000")]                    // Manchester
    [InlineData("0131 496 0000", "+441314960000")]                    // Edinburgh
    [InlineData("016977 3456", "+44169773456")]                      // a nine-digit national number
    [InlineData("0800 123 4567", "+448001234567")]                    // freephone
    [InlineData("7946 0018 20", "+447946001820")]                     // ten digits without the trunk 0
    // Other countries, written internationally
    [InlineData("+353 1 234 5678", "+35312345678")]                   // Dublin
    [InlineData("00353 87 123 4567", "+353871234567")]
    [InlineData("+1 (212) 555-0123", "+12125550123")]
    [InlineData("+49 30 12345678", "+493012345678")]
    [InlineData("+49 (0)30 12345678", "+493012345678")]
    [InlineData("+33 1 23 45 67 89", "+33123456789")]
    [InlineData("+234 803 123 4567", "+2348031234567")]               // a country without rules: taken as given
    public void Phone_brings_uk_and_international_numbers_to_e164(string input, string expected) =>
        Assert.Equal(expected, ExpressionFunctions.Phone(input));

    [Theory]
    [InlineData("(212) 555-0123", "US", "+12125550123")]
    [InlineData("212.555.0123", "US", "+12125550123")]
    [InlineData("1-212-555-0123", "US", "+12125550123")]
    [InlineData("011 44 20 7946 0018", "US", "+442079460018")]
    [InlineData("(01) 234 5678", "IE", "+35312345678")]
    [InlineData("087 123 4567", "ie", "+353871234567")]
    [InlineData("030 12345678", "DE", "+493012345678")]
    [InlineData("01 23 45 67 89", "FR", "+33123456789")]
    [InlineData("912 345 678", "ES", "+34912345678")]
    [InlineData("(02) 9876 5432", "AU", "+61298765432")]
    [InlineData("0011 44 20 7946 0018", "AU", "+442079460018")]
    public void Phone_reads_national_numbers_of_the_given_country(string input, string country, string expected) =>
        Assert.Equal(expected, ExpressionFunctions.Phone(input, country));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("n/a")]
    [InlineData("unknown")]
    [InlineData("0800 FLOWERS")]          // letters
    [InlineData("12345")]                  // too short
    [InlineData("020 7946 00")]            // a digit short... of nine national digits
    [InlineData("020 7946 0018 99")]       // too long
    [InlineData("+44 20 7946 0018 123")]   // too long for the UK
    [InlineData("++44 20 7946 0018")]
    [InlineData("44+20 7946 0018")]
    [InlineData("+0 123 456 789")]         // no calling code starts with 0
    [InlineData("+1234567890123456")]      // beyond E.164's 15 digits
    public void Phone_gives_null_for_what_cannot_be_a_number(string? input) =>
        Assert.Null(ExpressionFunctions.Phone(input));

    [Fact]
    public void Phone_refuses_an_unknown_country_by_name() =>
        Assert.Contains("unknown country 'XX'", Assert.Throws<ArgumentException>(() => ExpressionFunctions.Phone("020 7946 0018", "XX")).Message);

    [Theory]
    [InlineData("john smith", "John Smith")]
    [InlineData("JOHN SMITH", "John Smith")]
    [InlineData("  john   smith  ", "John Smith")]
    [InlineData("john\tsmith", "John Smith")]
    [InlineData("john\u00a0smith", "John Smith")]
    [InlineData("jOHN sMITH", "John Smith")]                      // caps lock on
    [InlineData("mary o'neill", "Mary O'Neill")]
    [InlineData("MARY O'NEILL", "Mary O'Neill")]
    [InlineData("mary o\u2019neill", "Mary O'Neill")]             // a typographic apostrophe
    [InlineData("d'arcy", "D'Arcy")]
    [InlineData("ngozi ng'ang'a", "Ngozi Ng'ang'a")]              // not a one-letter prefix
    [InlineData("ronald mcdonald", "Ronald McDonald")]
    [InlineData("RONALD MCDONALD", "Ronald McDonald")]
    [InlineData("ian mcewan", "Ian McEwan")]
    [InlineData("angus macdonald", "Angus MacDonald")]
    [InlineData("ALI MACLEOD", "Ali MacLeod")]
    [InlineData("john mack", "John Mack")]                        // not a Mac name
    [InlineData("MACY GRAY", "Macy Gray")]
    [InlineData("tom machin", "Tom Machin")]
    [InlineData("anne smith-jones", "Anne Smith-Jones")]
    [InlineData("ANNE-MARIE O'BRIEN-MCCARTHY", "Anne-Marie O'Brien-McCarthy")]
    [InlineData("ludwig van beethoven", "Ludwig van Beethoven")]
    [InlineData("CHARLES DE GAULLE", "Charles de Gaulle")]
    [InlineData("van morrison", "Van Morrison")]                  // a particle as the first word is a name
    [InlineData("leonardo da vinci", "Leonardo da Vinci")]
    [InlineData("henry tudor viii", "Henry Tudor VIII")]
    [InlineData("Danny DeVito", "Danny DeVito")]                  // the person's own spelling
    [InlineData("Ruth Macdonald", "Ruth Macdonald")]
    [InlineData("ZOË  LÖWE", "Zoë Löwe")]
    [InlineData("siobhán ó súilleabháin", "Siobhán Ó Súilleabháin")]
    [InlineData("ŁUKASZ NOWAK", "Łukasz Nowak")]
    [InlineData("j", "J")]
    [InlineData("   ", "")]
    public void PersonName_trims_collapses_and_proper_cases(string input, string expected) =>
        Assert.Equal(expected, ExpressionFunctions.PersonName(input));

    [Fact]
    public void PersonName_of_null_is_null() => Assert.Null(ExpressionFunctions.PersonName(null));

    [Theory]
    [InlineData("sw1a1aa", "SW1A 1AA")]
    [InlineData("SW1A 1AA", "SW1A 1AA")]
    [InlineData(" sw1a  1aa ", "SW1A 1AA")]
    [InlineData("m1 1ae", "M1 1AE")]
    [InlineData("B338TH", "B33 8TH")]
    [InlineData("cr26xh", "CR2 6XH")]
    [InlineData("DN55 1PT", "DN55 1PT")]
    [InlineData("EC1A 1BB", "EC1A 1BB")]
    public void UkPostcode_gives_the_standard_form(string input, string expected) =>
        Assert.Equal(expected, ExpressionFunctions.UkPostcode(input));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("12345")]
    [InlineData("SW1A-1AA")]
    [InlineData("SW1A 1AAA")]
    [InlineData("QQ")]
    public void UkPostcode_gives_null_for_what_is_not_a_postcode(string? input) =>
        Assert.Null(ExpressionFunctions.UkPostcode(input));

    [Fact]
    public void Manifest_expressions_can_call_the_cleansing_functions()
    {
        var source = new Ferry.Manifest.SourceText("PersonName(name) + \"|\" + Phone(phone) + \"|\" + Phone(phone, \"US\") + \"|\" + UkPostcode(pc)", 1, 1);
        var compiled = ExpressionCompiler.Compile("m.yaml", ["name", "phone", "pc"], [new ExpressionRequest(source, IsCondition: false)]);
        var evaluate = (Func<string?[], object?>)Assert.Single(compiled);
        Assert.Equal("Mary O'Neill|+442079460018||SW1A 1AA", evaluate(["  MARY o'neill", "(020) 79460018", "sw1a1aa"]));
    }
}
