package scheme

// kucoin is a placeholder until its implementation lands.
type kucoin struct{}

func (kucoin) Name() string                { return "kucoin" }
func (kucoin) Hosts() []string             { return nil }
func (kucoin) Info() Info                  { return Info{} }
func (kucoin) Check(Key) (Checked, error)  { return Checked{}, errPending("kucoin") }
func (kucoin) Sign(Input) (Request, error) { return Request{}, errPending("kucoin") }
