package scheme

// gate is a placeholder until its implementation lands.
type gate struct{}

func (gate) Name() string                { return "gate" }
func (gate) Hosts() []string             { return nil }
func (gate) Info() Info                  { return Info{} }
func (gate) Check(Key) (Checked, error)  { return Checked{}, errPending("gate") }
func (gate) Sign(Input) (Request, error) { return Request{}, errPending("gate") }
