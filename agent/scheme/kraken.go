package scheme

// kraken is a placeholder until its implementation lands.
type kraken struct{}

func (kraken) Name() string                { return "kraken" }
func (kraken) Hosts() []string             { return nil }
func (kraken) Info() Info                  { return Info{} }
func (kraken) Check(Key) (Checked, error)  { return Checked{}, errPending("kraken") }
func (kraken) Sign(Input) (Request, error) { return Request{}, errPending("kraken") }
