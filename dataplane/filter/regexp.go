package filter

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
)

// maxRepeat is the largest repetition count PostgreSQL's regular
// expressions accept (DUPMAX).
const maxRepeat = 255

// translateRegexp compiles an RE2 pattern for Go and writes the same
// language as a PostgreSQL ARE. Rather than trusting the two dialects to
// agree on a pattern's text, it writes PostgreSQL's version from the parsed
// tree with nothing left to interpretation: characters as \u escapes,
// classes as explicit ranges, case folding as explicit alternatives, and
// groups as non-capturing. What has no exact counterpart is refused (see
// the package doc).
func translateRegexp(pat string) (*regexp.Regexp, string, error) {
	if len(pat) > MaxPatternLen {
		return nil, "", fmt.Errorf("the pattern is longer than %d bytes", MaxPatternLen)
	}
	tree, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, "", fmt.Errorf("invalid pattern: %s", se.Code)
		}
		return nil, "", fmt.Errorf("invalid pattern")
	}
	var b strings.Builder
	if err := writeARE(&b, tree); err != nil {
		return nil, "", err
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, "", fmt.Errorf("invalid pattern")
	}
	return re, b.String(), nil
}

func writeARE(b *strings.Builder, re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpNoMatch:
		return errors.New("the pattern can never match")
	case syntax.OpEmptyMatch:
		b.WriteString("(?:)")
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r == 0 {
				return errors.New("patterns cannot hold the NUL character")
			}
			if re.Flags&syntax.FoldCase != 0 && unicode.SimpleFold(r) != r {
				b.WriteByte('[')
				for f := r; ; {
					writeRune(b, f)
					if f = unicode.SimpleFold(f); f == r {
						break
					}
				}
				b.WriteByte(']')
				continue
			}
			writeRune(b, r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return errors.New("the pattern can never match")
		}
		b.WriteByte('[')
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			writeRune(b, lo)
			if hi != lo {
				b.WriteByte('-')
				writeRune(b, hi)
			}
		}
		b.WriteByte(']')
	case syntax.OpAnyCharNotNL:
		b.WriteString(`[^\u000a]`)
	case syntax.OpAnyChar:
		// Outside newline-sensitive mode, which is the default, . matches
		// every character in PostgreSQL.
		b.WriteByte('.')
	case syntax.OpBeginText:
		b.WriteByte('^')
	case syntax.OpEndText:
		b.WriteByte('$')
	case syntax.OpBeginLine, syntax.OpEndLine:
		return errors.New("multi-line anchors ((?m) with ^ or $) are not supported in filters")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return errors.New(`word boundaries (\b, \B) are not supported in filters`)
	case syntax.OpCapture:
		b.WriteString("(?:")
		if err := writeARE(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteByte(')')
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		// Greediness changes which text matches, never whether one does.
		b.WriteString("(?:")
		if err := writeARE(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteByte(')')
		b.WriteString(map[syntax.Op]string{syntax.OpStar: "*", syntax.OpPlus: "+", syntax.OpQuest: "?"}[re.Op])
	case syntax.OpRepeat:
		if re.Min > maxRepeat || re.Max > maxRepeat {
			return fmt.Errorf("repetition counts above %d are not supported in filters", maxRepeat)
		}
		b.WriteString("(?:")
		if err := writeARE(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteString("){" + strconv.Itoa(re.Min))
		switch {
		case re.Max == -1:
			b.WriteByte(',')
		case re.Max != re.Min:
			b.WriteString("," + strconv.Itoa(re.Max))
		}
		b.WriteByte('}')
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			b.WriteString("(?:)")
		}
		for _, s := range re.Sub {
			if err := writeARE(b, s); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		b.WriteString("(?:")
		for i, s := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			if err := writeARE(b, s); err != nil {
				return err
			}
		}
		b.WriteByte(')')
	default:
		return fmt.Errorf("%s is not supported in filter patterns", re.Op)
	}
	return nil
}

// writeRune writes r so that it means itself both inside and outside a
// bracket expression: ASCII letters and digits as they are, everything else
// as a \u or \U escape.
func writeRune(b *strings.Builder, r rune) {
	switch {
	case r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
		b.WriteRune(r)
	case r <= 0xFFFF:
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		fmt.Fprintf(b, `\U%08x`, r)
	}
}
