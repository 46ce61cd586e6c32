package scheme

// deribit is a placeholder until its implementation lands.
type deribit struct{}

func (deribit) Name() string                { return "deribit" }
func (deribit) Hosts() []string             { return nil }
func (deribit) Info() Info                  { return Info{} }
func (deribit) Check(Key) (Checked, error)  { return Checked{}, errPending("deribit") }
func (deribit) Sign(Input) (Request, error) { return Request{}, errPending("deribit") }
