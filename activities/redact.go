package activities

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/keyrotor/keyrotor/internal/model"
)

// The one redaction helper: every provider text an activity error quotes
// goes through redactor.clean, which redacts before it truncates.

// maxQuoted bounds how much of a provider's message an error quotes.
const maxQuoted = 300

// redactor cleans text a provider or a proxy sent back before an error
// quotes it: every form of the secret (and of anything sealed for it) is
// replaced, then every piece of one (a server may quote a request cut
// short), and only then is the text cut to length, so that a cut can never
// leave a piece of a secret that straddled it.
type redactor struct {
	Secrets []model.Secret // exported: %+v prints them through model.Secret, redacted
}

// add makes s redacted from now on.
func (r *redactor) add(s model.Secret) {
	if s.Reveal() != "" {
		r.Secrets = append(r.Secrets, s)
	}
}

// clean redacts, puts the text on one line and truncates it.
func (r *redactor) clean(text string) string {
	for _, s := range r.Secrets {
		for _, form := range secretForms(s.Reveal()) {
			text = strings.ReplaceAll(text, form, "[REDACTED]")
		}
	}
	// Only the first maxQuoted bytes are ever shown; bounding the text well
	// beyond them keeps the piece search cheap without letting a piece
	// across this cut reach the output.
	text = truncate(text, 16*maxQuoted)
	for _, s := range r.Secrets {
		text = redactPieces(text, s.Reveal())
	}
	return truncate(strings.Join(strings.Fields(text), " "), maxQuoted)
}

// minPiece is the shortest run of a secret's characters redacted on its
// own. Shorter runs occur by chance in ordinary text; an AWS secret has 40.
const minPiece = 8

// redactPieces replaces every run of at least minPiece bytes of text that
// also occurs in secret.
func redactPieces(text, secret string) string {
	if len(secret) < minPiece {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if n := longestPieceAt(text[i:], secret); n >= minPiece {
			b.WriteString("[REDACTED]")
			i += n
			continue
		}
		b.WriteByte(text[i])
		i++
	}
	return b.String()
}

// longestPieceAt is the length of the longest prefix of text that occurs
// in secret.
func longestPieceAt(text, secret string) int {
	best := 0
	for j := range len(secret) {
		n := 0
		for n < len(text) && j+n < len(secret) && text[n] == secret[j+n] {
			n++
		}
		best = max(best, n)
	}
	return best
}

// secretForms are the ways a secret can appear in an echoed request: as
// is, JSON-escaped (with or without "\/"), and URL-encoded.
func secretForms(s string) []string {
	forms := []string{s}
	if b, err := json.Marshal(s); err == nil {
		j := string(b[1 : len(b)-1])
		forms = append(forms, j, strings.ReplaceAll(j, "/", `\/`))
	}
	forms = append(forms, url.QueryEscape(s), url.PathEscape(s))
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) }) // longest first
	return slices.Compact(forms)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
